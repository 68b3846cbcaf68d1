package graph

import (
	"strconv"
	"strings"
)

// safeID encodes s into [A-Za-z0-9_] only, injectively: letters and digits
// stay, "_" becomes "__" and any other rune becomes "_<hex code point>_".
// Node and module IDs become DOT identifiers, SVG element ids and Mermaid
// ids through it, so no ID can collide with another or with a keyword.
// html.js has the same function (safeID); keep the two in step.
func safeID(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80 && isAlnum(byte(r)):
			b.WriteRune(r)
		case r == '_':
			b.WriteString("__")
		default:
			b.WriteByte('_')
			b.WriteString(strconv.FormatInt(int64(r), 16))
			b.WriteByte('_')
		}
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Element ids of the SVG (from the DOT "id" attributes). The HTML page and
// its tests find nodes, edges and module clusters by them.

// NodeElementID is the SVG id of a node: "node-n3" for node "n3".
func NodeElementID(nodeID string) string { return "node-" + safeID(nodeID) }

// EdgeElementID is the SVG id of the i-th edge of Graph.Edges: "edge-4".
func EdgeElementID(i int) string { return "edge-" + strconv.Itoa(i) }

// ModuleElementID is the SVG id of a module's cluster: "module-ca".
func ModuleElementID(moduleID string) string { return "module-" + safeID(moduleID) }
