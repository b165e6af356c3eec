package debug_test

import (
	"os"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/introspect"
	"github.com/spindle-go/spindle/spawn"
)

// envHostile makes a child context of the browser test answer the tree
// query as hostileSetup does.
const envHostile = "SPINDLE_DEBUG_TEST_HOSTILE"

// childMain runs this test binary as a child context where a test started
// it as one (spawn.Local): it does not return then.
func childMain() bool {
	spawn.Main(func(n *actors.Node) error {
		if os.Getenv(envHostile) == "1" {
			return hostileSetup(n)
		}
		return introspect.Setup(n)
	})
	return false
}
