// Package dns is the control plane's DNS-over-TLS listener (RFC 7858) as an
// fx module.
//
// The server is authoritative for a few zones (by default the control
// plane's own, "<namespace>.svc."). It answers A and AAAA for the control
// plane's own names (Options.SelfNames resolve to Options.SelfAddrs) and A,
// AAAA and SRV for records that other modules contribute through the
// "dns.records" value group (RecordOut). Every answer is computed and packed
// once, in the constructor; serving a query is a map lookup and a copy.
//
// Answers follow RFC 1034/2308: a name with data of another type gets NOERROR
// with no answers and the zone's SOA (NODATA); an unknown name inside a zone
// gets NXDOMAIN with the SOA; a name outside every zone gets REFUSED.
// Opcodes other than QUERY get NOTIMP; a query without exactly one question
// gets FORMERR; bytes that are not a DNS message end their connection.
//
// The listener presents the serving bundle's certificate, read on every
// handshake, so a renewed certificate is served without a restart. It
// negotiates ALPN "dot" and asks for no client certificate. Queries may be
// pipelined without limit on one connection; answers to pipelined queries
// are written together (RFC 7766 section 6.2.1.1).
package dns
