package actors

import (
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
)

// addressPrefix starts every context address: context 7 has address "ctx-7".
const addressPrefix = "ctx-"

// Address returns the protoactor address of the context with the given ID.
func Address(id uint32) string { return addressPrefix + strconv.FormatUint(uint64(id), 10) }

// ContextOf returns the context ID named by a PID's address, and false when
// the address is not a Spindle context address (for example "nonhost").
func ContextOf(pid *actor.PID) (uint32, bool) {
	if pid == nil {
		return 0, false
	}
	return parseAddress(pid.Address)
}

func parseAddress(addr string) (uint32, bool) {
	rest, ok := strings.CutPrefix(addr, addressPrefix)
	if !ok || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	id, err := strconv.ParseUint(rest, 10, 32)
	if err != nil {
		return 0, false
	}
	return uint32(id), true
}

// FormatPID renders a PID as "address/id" ("ctx-4/worker").
func FormatPID(pid *actor.PID) string {
	if pid == nil {
		return "<nil>"
	}
	return pid.Address + "/" + pid.Id
}
