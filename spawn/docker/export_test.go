package docker

import "github.com/spindle-go/spindle/spawn/runner"

// Argv returns the CLI arguments of a Runner of this package.
func Argv(r runner.Runner) []string { return r.(*cliRunner).argv }

// Token returns the runner's SPINDLE_RUNNER value.
func Token(r runner.Runner) string { return r.(*cliRunner).token }

// Diagnose is Target.diagnose.
func (t *Target) Diagnose(err error, keep ...error) error { return t.diagnose(err, keep...) }
