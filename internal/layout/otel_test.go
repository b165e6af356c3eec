package layout

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// otelAdapters are the packages of the module that import OpenTelemetry
// (issue 16: "the core does not import OTel"): the adapters, one per layer
// they adapt, each named otel*. protoactor-go depends on OTel's metric API
// itself, so the rule is on direct imports.
var otelAdapters = map[string]bool{
	module + "/actors/otelmetrics":          true, // link counters, contexts down
	module + "/actors/oteltrace":            true, // trace context across links (actors.Propagator)
	module + "/supervision/otelsupervision": true, // restarts, give-ups
}

// TestOTelOnlyInAdapter: no package of the module but the adapters (and
// their tests) imports go.opentelemetry.io directly.
func TestOTelOnlyInAdapter(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	gomod, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command(goBin, "list", "-e", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", "./...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		if otelAdapters[pkg] {
			continue
		}
		checked++
		for _, imp := range strings.Fields(imports) {
			if strings.HasPrefix(imp, "go.opentelemetry.io/") {
				t.Errorf("%s imports %s: only the adapters %v may import OpenTelemetry", pkg, imp, otelAdapters)
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list found no packages")
	}
}

// TestChromedpTestOnly: the headless-browser driver of actors/debug's
// browser test stays out of the import graph of every package (tests
// may import it; go list -deps does not follow test imports).
func TestChromedpTestOnly(t *testing.T) {
	p := listPackages(t)
	for pkg, deps := range p.deps {
		for _, d := range deps {
			if strings.HasPrefix(d, "github.com/chromedp/") {
				t.Errorf("%s depends on %s: only tests may", pkg, d)
			}
		}
	}
}
