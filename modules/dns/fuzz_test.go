package dns_test

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/bootgraph/bootgraph/component"
	"github.com/bootgraph/bootgraph/internal/testutil"
	dnsmod "github.com/bootgraph/bootgraph/modules/dns"
)

// fuzzReadBound bounds one answer's wait: a failure bound, not a pace.
const fuzzReadBound = 30 * time.Second

// FuzzDNSQuery sends fuzzed messages to a real DNS-over-TLS server, as a
// client would, one after the other on one connection. Every message that
// holds a DNS header gets exactly one answer, with the query's ID and the
// response bit, that parses; when the server answered it itself (not
// miekg/dns's FORMERR or NOTIMP), the answer echoes the question, its
// records are for the question's name, and a padded query gets a padded
// answer. A message too short for a header ends the connection (no answer
// could carry its ID); nothing is ever left waiting.
func FuzzDNSQuery(f *testing.F) {
	c := testutil.NewCA(f)
	bundle := testutil.NewBundle(f, c)
	s, _ := startServer(f, dnsmod.Options{IdleTimeout: component.Duration(time.Hour)}, bundle, nil, testRecords...)
	tlsCfg := clientTLS(c.Roots())

	for _, m := range []*mdns.Msg{
		question(1, "istiod.istio-system.svc.", mdns.TypeA),
		question(2, "IStioD.Istio-System.svc.", mdns.TypeAAAA),
		question(3, "_grpc._tcp.istiod.istio-system.svc.", mdns.TypeSRV),
		question(4, "xds.istio-system.svc.", mdns.TypeANY),
		question(5, "nothing.istio-system.svc.", mdns.TypeA),
		question(6, "istio-system.svc.", mdns.TypeSOA),
		question(7, "example.com.", mdns.TypeA),
		question(8, "istio-system.svc.", mdns.TypeAXFR),
		question(9, ".", mdns.TypeNS),
	} {
		f.Add(pack(f, m))
	}
	padded := question(10, "istiod.istio-system.svc.", mdns.TypeA)
	padded.SetEdns0(1232, true)
	opt := padded.IsEdns0()
	opt.Option = append(opt.Option, &mdns.EDNS0_PADDING{Padding: make([]byte, 17)})
	f.Add(pack(f, padded))
	badVers := question(11, "istiod.istio-system.svc.", mdns.TypeA)
	badVers.SetEdns0(1232, false)
	badVers.IsEdns0().SetVersion(1)
	f.Add(pack(f, badVers))
	notify := question(12, "istio-system.svc.", mdns.TypeSOA)
	notify.Opcode = mdns.OpcodeUpdate
	f.Add(pack(f, notify))
	response := question(13, "istiod.istio-system.svc.", mdns.TypeA)
	response.Response = true
	f.Add(pack(f, response))
	chaos := question(14, "version.bind.", mdns.TypeTXT)
	chaos.Question[0].Qclass = mdns.ClassCHAOS
	f.Add(pack(f, chaos))
	two := question(15, "a.istio-system.svc.", mdns.TypeA)
	two.Question = append(two.Question, mdns.Question{Name: "b.istio-system.svc.", Qtype: mdns.TypeA, Qclass: mdns.ClassINET})
	f.Add(pack(f, two))
	f.Add([]byte{0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // a header and nothing else
	f.Add([]byte{0, 17, 1, 0, 0, 1})                   // a runt
	f.Add([]byte{})

	var conn *tls.Conn
	f.Cleanup(func() {
		if conn != nil {
			conn.Close()
		}
	})
	redial := func(t *testing.T) {
		if conn != nil {
			conn.Close()
		}
		var err error
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: fuzzReadBound}, "tcp", s.Addr(), tlsCfg)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
	}

	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 0xFFFF {
			msg = msg[:0xFFFF]
		}
		// exchange sends msg on the connection and reads what comes back:
		// an answer, or the end of the connection.
		exchange := func() ([]byte, error) {
			if conn == nil {
				redial(t)
			}
			if err := conn.SetDeadline(time.Now().Add(fuzzReadBound)); err != nil {
				return nil, err
			}
			if _, err := conn.Write(frame(msg)); err != nil {
				return nil, err
			}
			return readMsg(conn)
		}
		answer, err := exchange()
		if len(msg) < 12 {
			var ne net.Error
			if err == nil {
				t.Fatalf("a %d-byte runt was answered: %x", len(msg), answer)
			} else if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("a %d-byte runt left the connection open, waiting", len(msg))
			}
			redial(t) // the server ended the connection, as it must
			return
		}
		if err != nil {
			// The connection may have ended for a reason of its own
			// (idle timeout between runs): one more try on a new one.
			redial(t)
			if answer, err = exchange(); err != nil {
				t.Fatalf("no answer to a %d-byte message: %v", len(msg), err)
			}
		}
		checkDNSAnswer(t, msg, answer)
	})
}

// checkDNSAnswer asserts what the server promises of its answer to query.
func checkDNSAnswer(t *testing.T, query, answer []byte) {
	t.Helper()
	resp := new(mdns.Msg)
	if err := resp.Unpack(answer); err != nil {
		t.Fatalf("the answer does not parse: %v\n%x", err, answer)
	}
	if want := binary.BigEndian.Uint16(query); resp.Id != want {
		t.Fatalf("answer ID %d, want the query's %d", resp.Id, want)
	}
	if !resp.Response {
		t.Fatal("the answer does not have the response bit")
	}
	q := new(mdns.Msg)
	if err := q.Unpack(query); err != nil || resp.Rcode == mdns.RcodeFormatError ||
		(resp.Rcode == mdns.RcodeNotImplemented && q.Opcode != mdns.OpcodeQuery) {
		return // miekg/dns refused the message before the server saw it
	}
	if len(q.Question) != 1 || len(resp.Question) != 1 {
		t.Fatalf("%d questions answered with %d", len(q.Question), len(resp.Question))
	}
	if resp.Question[0] != q.Question[0] {
		t.Fatalf("the answer's question %v is not the query's %v", resp.Question[0], q.Question[0])
	}
	for _, rr := range resp.Answer {
		if !strings.EqualFold(rr.Header().Name, q.Question[0].Name) {
			t.Fatalf("answer record %v is not for %q", rr, q.Question[0].Name)
		}
	}
	if resp.Id != q.Id || resp.Opcode != q.Opcode || resp.RecursionDesired != q.RecursionDesired ||
		resp.CheckingDisabled != q.CheckingDisabled {
		t.Fatalf("the answer's header does not echo the query's: %v", resp.MsgHdr)
	}
	qopt, ropt := q.IsEdns0(), resp.IsEdns0()
	if (qopt == nil) != (ropt == nil) {
		t.Fatalf("query EDNS %v, answer EDNS %v", qopt != nil, ropt != nil)
	}
	if qopt != nil && hasPadding(qopt) && len(answer)%468 != 0 {
		t.Fatalf("a padded query got an answer of %d bytes, not a multiple of 468", len(answer))
	}
	if !bytes.Equal(answer[:2], query[:2]) {
		t.Fatal("the ID bytes differ")
	}
}

func hasPadding(opt *mdns.OPT) bool {
	for _, o := range opt.Option {
		if o.Option() == mdns.EDNS0PADDING {
			return true
		}
	}
	return false
}
