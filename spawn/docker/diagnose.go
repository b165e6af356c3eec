package docker

import (
	"context"
	"errors"
	"strings"
	"time"
)

// diagnoseTimeout bounds each CLI call of diagnose.
const diagnoseTimeout = 10 * time.Second

// diagnose explains a failed start by asking the engine, which costs
// nothing on the way to a working context: does the container exist and
// run, is the image there, does the engine answer at all. It returns an
// *Error wrapping err when it found the cause, else err unchanged. Errors
// that already say what went wrong (no shell, no exec directory, a
// deadline) are returned unchanged.
func (t *Target) diagnose(err error, keep ...error) error {
	for _, k := range keep {
		if errors.Is(err, k) {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), diagnoseTimeout)
	defer cancel()
	op, what := "exec", t.opts.Container
	var sentinel error
	if t.opts.Image != "" {
		op, what = "run", t.opts.Image
		if _, ierr := t.output(ctx, "image", "inspect", "--format", "{{.Id}}", what); ierr != nil {
			sentinel = ErrImageNotFound
		}
	} else {
		out, ierr := t.output(ctx, "container", "inspect", "--format", "{{.State.Running}}", what)
		switch {
		case ierr != nil:
			sentinel = ErrNoSuchContainer
		case strings.TrimSpace(out) != "true":
			sentinel = ErrContainerNotRunning
		}
	}
	if sentinel == nil {
		return err
	}
	if !t.engineUp(ctx) {
		sentinel = ErrEngineUnavailable
	}
	return &Error{CLI: t.method(), Op: op, Target: what, Err: sentinel, Cause: err}
}

// engineUp reports whether the engine answers.
func (t *Target) engineUp(ctx context.Context) bool {
	if t.fl == flavorPodman {
		return t.control(ctx, "info", "--format", "{{.Host.Arch}}") == nil
	}
	return t.control(ctx, "version", "--format", "{{.Server.Version}}") == nil
}
