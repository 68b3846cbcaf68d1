package dns

import (
	"net"
	"sync"
	"time"
)

// flushThreshold is how many bytes of encrypted answers a connection holds
// back at most: about one full TLS record.
const flushThreshold = 16 << 10

// batchListener sits under the TLS listener. Its connections hold back
// what TLS writes until TLS next reads from the socket, so the answers to
// pipelined queries leave in one write (RFC 7766 6.2.1.1), not one system
// call each. It also tracks its connections so that Stop can close those
// that outlive the drain.
type batchListener struct {
	net.Listener
	writeTimeout time.Duration

	mu    sync.Mutex
	conns map[*batchConn]struct{}
}

func newBatchListener(l net.Listener, writeTimeout time.Duration) *batchListener {
	return &batchListener{Listener: l, writeTimeout: writeTimeout, conns: map[*batchConn]struct{}{}}
}

// Accept wraps the next connection.
func (l *batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	bc := &batchConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[bc] = struct{}{}
	l.mu.Unlock()
	return bc, nil
}

// closeConns closes every open connection at once, unflushed.
func (l *batchListener) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Conn.Close()
	}
}

// openConns returns how many connections are open.
func (l *batchListener) openConns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// batchConn is a TCP connection that holds back writes until the next read
// or until flushThreshold bytes are held; a flush that the peer does not
// take within the write timeout fails the connection.
type batchConn struct {
	net.Conn
	l *batchListener

	mu  sync.Mutex
	out []byte
}

// Write holds p back.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, p...)
	if len(c.out) >= flushThreshold {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Read flushes what is held back, then reads: TLS reads from the socket only
// when it has no complete record left, that is, when the next query has not
// yet arrived.
func (c *batchConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	err := c.flushLocked()
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

// Close flushes what is held back (TLS's close_notify among it) and closes.
func (c *batchConn) Close() error {
	c.mu.Lock()
	_ = c.flushLocked()
	c.mu.Unlock()
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func (c *batchConn) flushLocked() error {
	if len(c.out) == 0 {
		return nil
	}
	if err := c.SetWriteDeadline(time.Now().Add(c.l.writeTimeout)); err != nil {
		return err
	}
	_, err := c.Conn.Write(c.out)
	c.out = c.out[:0]
	return err
}
