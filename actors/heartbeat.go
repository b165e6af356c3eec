package actors

import (
	"time"

	lnk "github.com/spindle-go/spindle/actors/internal/link"
)

// Heartbeat defaults (Config.HeartbeatInterval, Config.HeartbeatTimeout).
const (
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatTimeout  = 5 * time.Second
)

// ErrHeartbeatTimeout is the sentinel behind *HeartbeatError.
var ErrHeartbeatTimeout = lnk.ErrHeartbeatTimeout

// HeartbeatError is the reason a link was declared dead because its peer
// sent nothing for longer than the heartbeat timeout: a stopped (SIGSTOP)
// or hung process, or a silent network cut. It matches ErrHeartbeatTimeout.
// Its fields: Peer, the peer's name ("parent" on a child's side); Silence,
// how long the reader waited for bytes; Timeout, the configured timeout.
type HeartbeatError = lnk.HeartbeatError
