package docker_test

import (
	"errors"
	"testing"

	"github.com/spindle-go/spindle/internal/containertest"
	"github.com/spindle-go/spindle/spawn/docker"
)

var errStart = errors.New("the start failed")

// TestDiagnose asks the real engines about a missing container, a stopped
// one, a missing image, an unreachable engine, and a healthy container
// (whose error stays as it was).
func TestDiagnose(t *testing.T) {
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			e := eng.get(t)
			img := e.BusyboxImage(t)
			running := e.Run(t, img, containertest.RunOptions{})
			stopped := e.Run(t, img, containertest.RunOptions{})
			e.Command(t, "kill", stopped.Name)
			bad := "unix:///nonexistent/spindle.sock"
			for _, tc := range []struct {
				opts docker.TargetOptions
				want error
			}{
				{docker.TargetOptions{Container: containertest.RandomName("spindle-missing-")}, docker.ErrNoSuchContainer},
				{docker.TargetOptions{Container: stopped.Name}, docker.ErrContainerNotRunning},
				{docker.TargetOptions{Image: "spindle-test/missing:1"}, docker.ErrImageNotFound},
				{docker.TargetOptions{Container: running.Name, Host: bad}, docker.ErrEngineUnavailable},
				{docker.TargetOptions{Container: running.Name}, nil},
				{docker.TargetOptions{Image: img}, nil},
			} {
				tc.opts.CLI = e.Path
				tg, err := docker.NewTarget(tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				got := tg.Diagnose(errStart)
				if !errors.Is(got, errStart) {
					t.Errorf("%+v: %v lost the cause", tc.opts, got)
				}
				if tc.want == nil {
					if got != errStart {
						t.Errorf("%+v: %v, want the error unchanged", tc.opts, got)
					}
					continue
				}
				var de *docker.Error
				if !errors.Is(got, tc.want) || !errors.As(got, &de) {
					t.Errorf("%+v: %v, want %v", tc.opts, got, tc.want)
				}
			}
			if got := (mustTarget(t, docker.TargetOptions{CLI: e.Path, Container: "x"})).Diagnose(errStart, errStart); got != errStart {
				t.Errorf("a kept error was classified: %v", got)
			}
		})
	}
}
