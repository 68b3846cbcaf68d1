package dns

import (
	"errors"
	"net"
	"time"

	mdns "github.com/miekg/dns"
)

// acceptQuery is miekg/dns's default check (FORMERR for anything but one
// question, NOTIMP for opcodes other than QUERY and NOTIFY), except that a
// message with the response bit set gets FORMERR: miekg/dns drops it
// silently, which over UDP avoids amplification but over TLS would leave the
// sender waiting for an answer.
func acceptQuery(h mdns.Header) mdns.MsgAcceptAction {
	action := mdns.DefaultMsgAcceptFunc(h)
	if action == mdns.MsgIgnore {
		return mdns.MsgReject
	}
	return action
}

// errRunt ends a connection whose message cannot hold a DNS header.
var errRunt = errors.New("message shorter than a DNS header")

// endRunts makes a connection end at a message too short for a DNS header,
// which miekg/dns would drop silently, leaving the sender waiting: no answer
// can carry its ID.
func endRunts(r mdns.Reader) mdns.Reader { return runtReader{r} }

type runtReader struct{ mdns.Reader }

// ReadTCP implements mdns.Reader.
func (r runtReader) ReadTCP(conn net.Conn, timeout time.Duration) ([]byte, error) {
	m, err := r.Reader.ReadTCP(conn, timeout)
	if err == nil && len(m) < headerLen {
		return nil, errRunt
	}
	return m, err
}
