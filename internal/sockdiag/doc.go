// Package sockdiag is a streaming NETLINK_SOCK_DIAG (inet_diag) client.
//
// It speaks the protocol with golang.org/x/sys/unix directly: one netlink
// socket, one reused receive buffer, and a callback per message that sees the
// raw inet_diag_msg and its attributes in that buffer. Nothing is kept per
// socket, so a dump of hundreds of thousands of sockets runs in constant
// memory with no allocation per socket. (mdlayher/netlink and
// vishvananda/netlink both collect a whole dump into a slice of messages
// before returning it, which is what this package exists to avoid.)
//
// Layers, bottom up:
//   - Conn.Dump: send one inet_diag_req_v2 dump request and hand every
//     response payload (inet_diag_msg + rtattrs) to a callback;
//   - ParseMsg / Attrs: decode the fixed header and walk the attributes
//     without copying;
//   - Conn.Count: count sockets per state while reading;
//   - Conn.Listeners: LISTEN sockets with their accept-queue length and
//     limit (idiag_rqueue / idiag_wqueue).
//
// A socket created inside a network namespace keeps reporting that
// namespace, so open the Conn inside it (see internal/netnsutil) and use it
// from anywhere. This package has no OpenTelemetry imports.
package sockdiag
