// Package sockstatereceiver counts sockets per transport, state and address
// family straight from the kernel (NETLINK_SOCK_DIAG, BPF socket
// iterators, or /proc/net socket tables), plus /proc/net/sockstat totals and
// listen accept-queue fill.
//
//go:generate mdatagen metadata.yaml
package sockstatereceiver
