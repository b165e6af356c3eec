// Package vianet holds the tests of Via across a real network (issue 13,
// docs/via.md "Tests across namespaces"): the root starts a context on an
// inner host through a context on a bastion host, each host a network
// namespace with its own OpenSSH sshd (internal/netnstest), the inner one
// unreachable from the root. The tests kill and cut the bastion and
// supervise the chain. The package has no code of its own.
package vianet
