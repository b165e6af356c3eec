package sudo_test

import (
	"os"
	"testing"

	"github.com/spindle-go/spindle/spawn"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	spawn.Main(setup)
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m)
}
