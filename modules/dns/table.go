package dns

import (
	"fmt"

	mdns "github.com/miekg/dns"
)

// table holds every answer the server gives, computed and packed once. Names
// are keyed in lower-case wire format, which a query's name is turned into
// without parsing its labels; a suffix of a wire name is its parent's.
type table struct {
	names   map[string]*node     // every name that exists, zone apexes included
	zones   map[string]*response // zone apex -> its NXDOMAIN answer
	refused *response            // the answer for names outside every zone
}

// node is a name that exists: its answers by query type, and the NODATA
// answer for every other type.
type node struct {
	byType map[uint16]*response
	nodata *response
}

// lookup returns the answer for a lower-case wire name and a type.
func (t *table) lookup(name []byte, qtype uint16) *response {
	if n, ok := t.names[string(name)]; ok {
		if r, ok := n.byType[qtype]; ok {
			return r
		}
		return n.nodata
	}
	// The longest enclosing zone: try each suffix, the name first and the
	// root (a single zero byte) last.
	for off := 0; off < len(name); off += int(name[off]) + 1 {
		if r, ok := t.zones[string(name[off:])]; ok {
			return r
		}
	}
	return t.refused
}

// wireName packs a presentation-format name, e.g. "istiod.istio-system.svc.",
// into lower-case wire format.
func wireName(name string) (string, error) {
	buf := make([]byte, maxNameLen)
	n, err := mdns.PackDomainName(mdns.Fqdn(name), buf, 0, nil, false)
	if err != nil {
		return "", fmt.Errorf("%q: %w", name, err)
	}
	return string(lowerASCII(buf[:n], buf[:n])), nil
}

// lowerASCII writes src lower-cased into dst (which may be src) and returns
// it. DNS compares names ASCII-case-insensitively (RFC 4343); the length
// bytes of a wire name (at most 63) are never upper-case letters.
func lowerASCII(dst, src []byte) []byte {
	dst = dst[:len(src)]
	for i, c := range src {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst[i] = c
	}
	return dst
}

// maxNameLen is the longest domain name in wire format (RFC 1035 3.1).
const maxNameLen = 255
