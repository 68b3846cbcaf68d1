package webhook

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// bodyBudget bounds the memory of request bodies being received, over
// every connection and stream together. Without it, one HTTP/2 client
// with 200 streams that each sent most of a 7 MiB body and then waited
// held 1.4 GB until the read timeout. A body takes its bytes from the
// budget as they arrive; when a body would overflow it, the body that has
// been arriving longest is dropped (503), and its memory is released: a
// real request arrives in milliseconds, so the oldest one is most likely a
// client that never finishes.
type bodyBudget struct {
	max int64

	mu      sync.Mutex
	total   int64
	readers list.List // *bodyReader receiving, oldest first

	dropped atomic.Uint64
}

// bodyReader is one request body being received.
type bodyReader struct {
	held    int64
	elem    *list.Element
	dropped bool // its bytes were given back; its read is interrupted

	mu   sync.Mutex // orders stop and done
	done bool       // the body was read (or failed): stop does nothing
	rc   *http.ResponseController
}

// begin registers a body about to be read through w.
func (b *bodyBudget) begin(w http.ResponseWriter) *bodyReader {
	r := &bodyReader{rc: http.NewResponseController(w)}
	b.mu.Lock()
	r.elem = b.readers.PushBack(r)
	b.mu.Unlock()
	return r
}

// take accounts n more bytes of r's body, dropping the oldest bodies while
// the total is over the budget; it reports whether r itself is still
// receiving.
func (b *bodyBudget) take(r *bodyReader, n int64) bool {
	b.mu.Lock()
	if r.dropped {
		b.mu.Unlock()
		return false
	}
	r.held += n
	b.total += n
	var victims []*bodyReader
	for b.total > b.max && b.readers.Len() > 0 {
		v := b.readers.Remove(b.readers.Front()).(*bodyReader)
		v.elem, v.dropped = nil, true
		b.total -= v.held
		v.held = 0
		victims = append(victims, v)
	}
	self := !r.dropped
	b.mu.Unlock()
	for _, v := range victims {
		b.dropped.Add(1)
		if v != r {
			v.stop()
		}
	}
	return self
}

// end gives r's bytes back: its body is read (or failed).
func (b *bodyBudget) end(r *bodyReader) {
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !r.dropped {
		b.readers.Remove(r.elem)
		b.total -= r.held
		r.elem, r.held = nil, 0
	}
}

// stop interrupts the read of a dropped body, unless it ended.
func (r *bodyReader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done {
		_ = r.rc.SetReadDeadline(time.Now())
	}
}

// readBody reads a request's whole body, at most max bytes, before next
// runs, so that the handler timeout is the handler's alone: a body that has
// not arrived within the server's read timeout gets 408, a larger one 413,
// one dropped to keep within the body buffer 503. next reads the body from
// memory.
func readBody(next http.Handler, max int64, timeout time.Duration, budget *bodyBudget) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reader := budget.begin(w)
		// No room is made from Content-Length ahead: the body takes memory
		// as it arrives, not as it is announced.
		var buf bytes.Buffer
		err := readInto(&buf, http.MaxBytesReader(w, r.Body, max), func(n int) bool { return budget.take(reader, int64(n)) })
		budget.end(reader)
		if err != nil {
			var tooLarge *http.MaxBytesError
			switch {
			case errors.Is(err, errDropped) || reader.dropped:
				w.Header().Set("Retry-After", "1")
				http.Error(w, fmt.Sprintf("request bodies being received exceed the body buffer (%d bytes): "+
					"this one, the oldest, was dropped after %d of %s bytes", budget.max, buf.Len(), declared(r.ContentLength)),
					http.StatusServiceUnavailable)
			case errors.As(err, &tooLarge):
				http.Error(w, fmt.Sprintf("request body larger than %d bytes", max), http.StatusRequestEntityTooLarge)
			case errors.Is(err, os.ErrDeadlineExceeded):
				http.Error(w, fmt.Sprintf("request body not received within readTimeout %v: got %d of %s bytes",
					timeout, buf.Len(), declared(r.ContentLength)), http.StatusRequestTimeout)
			default:
				http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
			}
			return
		}
		r.Body = io.NopCloser(&buf)
		next.ServeHTTP(w, r)
	})
}

var errDropped = errors.New("dropped to keep within the body buffer")

// readInto reads r to its end into buf, asking take before it keeps each
// chunk.
func readInto(buf *bytes.Buffer, r io.Reader, take func(n int) bool) error {
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		if n > 0 {
			if !take(n) {
				return errDropped
			}
			buf.Write(chunk[:n])
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// declared is a Content-Length for a message: "unknown" when there is none.
func declared(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return strconv.FormatInt(n, 10)
}
