// Package kube starts a Spindle context inside a Kubernetes pod through
// `kubectl exec -i`, so every kubeconfig, context and credential plugin
// kubectl knows works unchanged. The bootstrap (docs/bootstrap.md) runs
// in the container's /bin/sh and receives the binary on the same stream.
//
// It is tested against a stand-in kubectl that execs the command (no
// cluster was available): the argv is pinned, and the whole start, the
// upload and the lifecycle run through it. It has not been tested against
// a real cluster (docs/methods.md).
//
// # Usage
//
//	c, err := kube.Start(ctx, node, kube.Options{Pod: "web-0", Container: "app", Namespace: "prod"})
//	pid, _ := c.Spawn(ctx, "worker", "w")
//
// The caller's duties: those of spawn.Start (Shutdown the child or the
// node).
package kube

import (
	"context"
	"errors"
	"strings"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/internal/execrun"
	"github.com/spindle-go/spindle/spawn/runner"
)

// Options configures a context in a pod. Pod is required; every other
// zero value is kubectl's own default.
type Options struct {
	spawn.Common
	spawn.Bootstrap

	// Pod is the pod's name.
	Pod string
	// Container is the container in the pod (-c); "" is kubectl's default
	// (the pod's default container annotation, else the first).
	Container string
	// Namespace (-n); "" is the context's namespace.
	Namespace string
	// Context is the kubeconfig context (--context); "" is the current one.
	Context string
	// Kubeconfig is the kubeconfig file (--kubeconfig); "" is kubectl's
	// default ($KUBECONFIG, ~/.kube/config).
	Kubeconfig string
	// Kubectl is the kubectl program. Default "kubectl" in PATH.
	Kubectl string
	// LocalEnv is added to kubectl's environment on this host.
	LocalEnv []string
}

// Argv is the kubectl command line that prefixes the bootstrap:
// `kubectl exec -i POD [-c CONTAINER] [-n NS] [--context CTX]
// [--kubeconfig F] --`.
func Argv(opts Options) ([]string, error) {
	if opts.Pod == "" {
		return nil, errors.New("spawn/kube: Options.Pod is empty")
	}
	for _, v := range []string{opts.Pod, opts.Container, opts.Namespace, opts.Context} {
		if strings.HasPrefix(v, "-") {
			return nil, errors.New("spawn/kube: a pod, container, namespace or context name may not start with '-'")
		}
	}
	kubectl := opts.Kubectl
	if kubectl == "" {
		kubectl = "kubectl"
	}
	argv := []string{kubectl, "exec", "-i", opts.Pod}
	for _, f := range [][2]string{{"-c", opts.Container}, {"-n", opts.Namespace}, {"--context", opts.Context}, {"--kubeconfig", opts.Kubeconfig}} {
		if f[1] != "" {
			argv = append(argv, f[0], f[1])
		}
	}
	return append(argv, "--"), nil
}

// Target returns the pod as a runner.Target, for wrapping methods (sudo
// inside the container) and spawn.Start. kubectl exec relays no signals,
// so Signal fails with errors.ErrUnsupported: the lifecycle asks with
// SHUTDOWN, and Kill ends kubectl, which closes the child's stdin (the
// child then exits on EOF).
func Target(opts Options) (runner.Target, error) {
	argv, err := Argv(opts)
	if err != nil {
		return nil, err
	}
	host := opts.Pod
	if opts.Container != "" {
		host += "/" + opts.Container
	}
	if opts.Namespace != "" {
		host = opts.Namespace + "/" + host
	}
	return &podTarget{Target: &execrun.Target{
		Prefix: argv,
		Env:    append([]string(nil), opts.LocalEnv...),
		Desc:   runner.Info{Method: "kubectl", Host: host},
	}, opts: podOptions{Pod: opts.Pod, Container: opts.Container, Namespace: opts.Namespace, Context: opts.Context,
		Kubeconfig: opts.Kubeconfig, Kubectl: opts.Kubectl, LocalEnv: opts.LocalEnv}}, nil
}

// podTarget is the pod as a runner.Target that can travel through Via as
// data (spawn.ViaTarget): kubectl then runs on the intermediate's host,
// with its kubeconfig.
type podTarget struct {
	*execrun.Target
	opts podOptions
}

// podOptions are the target's part of Options, as data.
type podOptions struct {
	Pod, Container, Namespace, Context, Kubeconfig, Kubectl string
	LocalEnv                                                []string
}

// DescribeVia describes the pod's target as data.
func (t *podTarget) DescribeVia(*spawn.ViaPrompts) (spawn.TargetSpec, error) {
	return spawn.NewTargetSpec("kube", &t.opts)
}

var _ spawn.ViaTarget = (*podTarget)(nil)

func init() {
	spawn.RegisterViaTarget("kube", func(_ context.Context, o *podOptions) (runner.Target, error) {
		return Target(Options{Pod: o.Pod, Container: o.Container, Namespace: o.Namespace, Context: o.Context,
			Kubeconfig: o.Kubeconfig, Kubectl: o.Kubectl, LocalEnv: o.LocalEnv})
	})
}

// Start starts a child context in the pod and joins it to node, returning
// once the handshake is done (spawn.Start). The default name is
// "kube-POD". With Common.Via set, the context named there runs kubectl
// (spawn.Start's Via, docs/via.md): the kubeconfig and kubectl are that
// context's host's.
func Start(ctx context.Context, node *actors.Node, opts Options) (*spawn.Process, error) {
	t, err := Target(opts)
	if err != nil {
		return nil, err
	}
	if opts.Name == "" {
		opts.Name = "kube-" + opts.Pod
	}
	return spawn.Start(ctx, node, t, opts.Common, opts.Bootstrap)
}

// Step is the step of a context in a pod in a spawn.Chain: through the
// chain's previous hop when there is one (kubectl runs there), else as
// opts.Via says.
func Step(opts Options) spawn.Step {
	return func(ctx context.Context, node *actors.Node, via spawn.Hop) (spawn.Child, error) {
		if via != nil {
			opts.Via = via
		}
		return Start(ctx, node, opts)
	}
}
