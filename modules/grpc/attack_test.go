package grpc_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Client is a raw HTTP/2 client over TLS, as an attacker writes one: it
// finishes TLS and the preface, answers SETTINGS and PING, follows flow
// control, and does only what the test tells it.
type h2Client struct {
	t    *testing.T
	conn *tls.Conn
	fr   *http2.Framer

	wmu sync.Mutex // serializes writes

	mu         sync.Mutex
	cond       *sync.Cond
	connWin    int64
	initialWin int64
	streamWin  map[uint32]int64
	settings   map[http2.SettingID]uint32
	resets     map[uint32]http2.ErrCode
	goAway     *http2.GoAwayFrame
	headers    map[uint32][]hpack.HeaderField // response headers and trailers
	readErr    error
	done       chan struct{} // closed when the reader ends
	gotSetting chan struct{} // closed at the server's first SETTINGS
	nextID     uint32
}

// dialH2 opens a raw HTTP/2 connection: TLS with ALPN h2, the client
// preface and an empty SETTINGS frame.
func dialH2(t *testing.T, addr string, roots *x509.CertPool) *h2Client {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"h2"}})
	require.NoError(t, err)
	c := &h2Client{t: t, conn: conn, fr: http2.NewFramer(conn, conn), connWin: 65535, initialWin: 65535,
		streamWin: map[uint32]int64{}, settings: map[http2.SettingID]uint32{}, resets: map[uint32]http2.ErrCode{},
		headers: map[uint32][]hpack.HeaderField{}, done: make(chan struct{}), gotSetting: make(chan struct{}), nextID: 1}
	c.cond = sync.NewCond(&c.mu)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	t.Cleanup(func() { c.close() })
	_, err = io.WriteString(conn, http2.ClientPreface)
	require.NoError(t, err)
	require.NoError(t, c.fr.WriteSettings())
	go c.read()
	select {
	case <-c.gotSetting:
	case <-c.done:
		t.Fatalf("the server closed the connection before its SETTINGS: %v", c.readErr)
	case <-time.After(10 * time.Second):
		t.Fatal("no SETTINGS from the server")
	}
	return c
}

func (c *h2Client) close() {
	c.conn.Close()
	<-c.done
}

func (c *h2Client) write(f func() error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return f()
}

// read handles the server's frames until the connection ends.
func (c *h2Client) read() {
	defer close(c.done)
	first := true
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = f.ForeachSetting(func(s http2.Setting) error {
					c.settings[s.ID] = s.Val
					if s.ID == http2.SettingInitialWindowSize {
						delta := int64(s.Val) - c.initialWin
						c.initialWin = int64(s.Val)
						for id := range c.streamWin {
							c.streamWin[id] += delta
						}
					}
					return nil
				})
				go func() { _ = c.write(c.fr.WriteSettingsAck) }()
				if first {
					first = false
					close(c.gotSetting)
				}
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				c.connWin += int64(f.Increment)
			} else if _, ok := c.streamWin[f.StreamID]; ok {
				c.streamWin[f.StreamID] += int64(f.Increment)
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				data := f.Data
				go func() { _ = c.write(func() error { return c.fr.WritePing(true, data) }) }()
			}
		case *http2.RSTStreamFrame:
			c.resets[f.StreamID] = f.ErrCode
			delete(c.streamWin, f.StreamID)
		case *http2.GoAwayFrame:
			c.goAway = f
		case *http2.MetaHeadersFrame:
			c.headers[f.StreamID] = append(c.headers[f.StreamID], f.Fields...)
			if f.StreamEnded() {
				delete(c.streamWin, f.StreamID)
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				delete(c.streamWin, f.StreamID)
			}
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// requestHeaders are a gRPC request's headers for method, with extra
// metadata.
func requestHeaders(method string, extra ...hpack.HeaderField) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, h := range append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "https"},
		{Name: ":path", Value: method}, {Name: ":authority", Value: "localhost"},
		{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	}, extra...) {
		_ = enc.WriteField(h)
	}
	return buf.Bytes()
}

// open starts a stream for method with the given header block, split into
// CONTINUATION frames of at most 16 KiB; it returns the stream's ID.
func (c *h2Client) open(block []byte) (uint32, error) {
	c.mu.Lock()
	id := c.nextID
	c.nextID += 2
	c.streamWin[id] = c.initialWin
	c.mu.Unlock()
	const frame = 16 << 10
	err := c.write(func() error {
		first := block[:min(frame, len(block))]
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndHeaders: len(block) <= frame}); err != nil {
			return err
		}
		for rest := block[len(first):]; len(rest) > 0; {
			n := min(frame, len(rest))
			if err := c.fr.WriteContinuation(id, n == len(rest), rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	})
	return id, err
}

// messageHeader is gRPC's 5-byte message prefix for an uncompressed
// message of n bytes.
func messageHeader(n int) []byte {
	h := make([]byte, 5)
	binary.BigEndian.PutUint32(h[1:], uint32(n))
	return h
}

var errStalled = errors.New("flow control stalled")

// send writes data on stream id as flow control allows; it returns
// errStalled once neither window has moved for stall, and an error when the
// stream or the connection ended.
func (c *h2Client) send(id uint32, data []byte, stall time.Duration) (int, error) {
	sent := 0
	for sent < len(data) {
		c.mu.Lock()
		deadline := time.Now().Add(stall)
		for {
			if c.readErr != nil {
				err := c.readErr
				c.mu.Unlock()
				return sent, err
			}
			if code, ok := c.resets[id]; ok {
				c.mu.Unlock()
				return sent, http2.StreamError{StreamID: id, Code: code}
			}
			win, open := c.streamWin[id]
			if !open {
				c.mu.Unlock()
				return sent, errors.New("stream ended")
			}
			if win > 0 && c.connWin > 0 {
				break
			}
			if time.Now().After(deadline) {
				c.mu.Unlock()
				return sent, errStalled
			}
			waitCond(c.cond, 50*time.Millisecond)
		}
		n := int(min(int64(len(data)-sent), c.streamWin[id], c.connWin, 16<<10))
		c.streamWin[id] -= int64(n)
		c.connWin -= int64(n)
		c.mu.Unlock()
		chunk := data[sent : sent+n]
		if err := c.write(func() error { return c.fr.WriteData(id, false, chunk) }); err != nil {
			return sent, err
		}
		sent += n
	}
	return sent, nil
}

// waitCond waits on cond (its lock held) for a broadcast or for d.
func waitCond(cond *sync.Cond, d time.Duration) {
	t := time.AfterFunc(d, cond.Broadcast)
	cond.Wait()
	t.Stop()
}

// status returns the grpc-status and grpc-message the server sent on
// stream id, waiting for them until the stream ends.
func (c *h2Client) status(id uint32) (code, message string, reset http2.ErrCode, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, h := range c.headers[id] {
			switch h.Name {
			case "grpc-status":
				code = h.Value
			case "grpc-message":
				message = h.Value
			}
		}
		if code != "" {
			return code, message, 0, nil
		}
		if r, ok := c.resets[id]; ok {
			return "", "", r, nil
		}
		if c.readErr != nil {
			return "", "", 0, c.readErr
		}
		if time.Now().After(deadline) {
			return "", "", 0, errors.New("no status within 10s")
		}
		waitCond(c.cond, 50*time.Millisecond)
	}
}

// closedByServer reports whether the reader ended because the server
// closed the connection (not because the test did).
func (c *h2Client) waitClosed(t *testing.T, within time.Duration) (goAway *http2.GoAwayFrame) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(within):
		t.Fatalf("the server kept the connection open for %v", within)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr != nil && strings.Contains(c.readErr.Error(), "use of closed network connection") {
		t.Fatalf("the test closed the connection, not the server: %v", c.readErr)
	}
	return c.goAway
}
