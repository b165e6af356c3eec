package layout

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/spindle-go/spindle"

// pkgs maps each package of the module (by path relative to the module,
// "" for none) to its dependencies, as go list -deps reports them.
type pkgs struct {
	root string
	deps map[string][]string // "actors" -> ["fmt", "github.com/...", ...]
	dirs map[string]string
}

func listPackages(t *testing.T) pkgs {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	p := pkgs{root: filepath.Dir(strings.TrimSpace(string(out))), deps: map[string][]string{}, dirs: map[string]string{}}
	cmd := exec.Command(goBin, "list", "-e", "-f", "{{.ImportPath}}|{{.Dir}}|{{join .Deps \" \"}}", "./...")
	cmd.Dir = p.root
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("go list line %q", line)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(parts[0], module), "/")
		p.deps[rel] = strings.Fields(parts[2])
		p.dirs[rel] = parts[1]
	}
	return p
}

func isStd(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// rule checks pkg (skipped while it does not exist): every dependency of
// the module must satisfy okOwn, every other one okExt.
func (p pkgs) rule(t *testing.T, pkg, what string, okOwn, okExt func(string) bool) {
	t.Helper()
	deps, exists := p.deps[pkg]
	if !exists {
		t.Logf("%s: not written yet, rule %q checked once it exists", pkg, what)
		return
	}
	for _, d := range deps {
		rel, mine := strings.CutPrefix(d, module+"/")
		switch {
		case mine && !okOwn(rel):
			t.Errorf("%s imports %s: breaks %q", pkg, rel, what)
		case !mine && !isStd(d) && okExt != nil && !okExt(d):
			t.Errorf("%s imports %s: breaks %q", pkg, d, what)
		}
	}
}

// TestImportRules checks the import DAG of DESIGN.md ("Import rules").
func TestImportRules(t *testing.T) {
	p := listPackages(t)
	none := func(string) bool { return false }
	codecs := func(d string) bool {
		return strings.HasPrefix(d, "github.com/vmihailenco/msgpack/v5") ||
			strings.HasPrefix(d, "github.com/vmihailenco/tagparser/v2") || d == "github.com/google/uuid"
	}
	isWire := func(d string) bool { return d == "wire" }

	p.rule(t, "wire", "wire imports only the standard library, msgpack and uuid", none, codecs)
	p.rule(t, "actors/internal/route", "route imports wire types only", isWire, codecs)
	p.rule(t, "actors/internal/link", "link imports wire and never actors",
		func(d string) bool { return !under(d, "actors") || under(d, "actors/internal/link") }, nil)
	p.rule(t, "actors", "actors imports wire, its internal packages and protoactor, never its feature packages, spawn or supervision",
		func(d string) bool { return isWire(d) || under(d, "actors/internal") }, nil)
	// The compressors are linked by spawn/compress (the method packages
	// import it), never by what every context links: a program that only
	// starts local contexts, and each of its children, initialises none.
	noCompressor := func(d string) bool { return !strings.HasPrefix(d, "github.com/klauspost/compress") }
	p.rule(t, "spawn", "spawn imports actors, actors/calls (the Via service), wire, runner and its internal packages, never another feature package, a method package, supervision or a compressor",
		func(d string) bool {
			_, isMethod := methodPackage(d)
			return d == "actors" || d == "actors/calls" || under(d, "actors/internal") || isWire(d) ||
				d == "internal/platform" || d == "internal/progress" || (under(d, "spawn") && !isMethod && d != "spawn/compress" && d != "spawn/internal/codec")
		}, noCompressor)
	p.rule(t, "spawn/runner", "spawn/runner imports only the standard library", none, none)
	p.rule(t, "spawn/internal/boot", "spawn/internal/boot never imports actors or a compressor",
		func(d string) bool { return !under(d, "actors") && d != "spawn/internal/codec" }, noCompressor)
	p.rule(t, "supervision/internal/core", "the supervision core imports the standard library only", none, none)
	p.rule(t, "internal/platform", "platform code imports only the standard library and x/sys", none,
		func(d string) bool { return strings.HasPrefix(d, "golang.org/x/sys/") })
	p.rule(t, "internal/progress", "the transfer logger imports only the standard library", none, none)
	for pkg := range p.deps {
		rest, ok := strings.CutPrefix(pkg, "actors/")
		if ok && !under(pkg, "actors/internal") && !strings.Contains(rest, "/") {
			p.rule(t, pkg, "feature packages import actors and wire, never spawn",
				func(d string) bool { return !under(d, "spawn") && !under(d, "supervision") }, nil)
		}
		if m, ok := methodPackage(pkg); ok {
			p.rule(t, pkg, "method packages import spawn, runner and boot, never each other",
				func(d string) bool { o, isMethod := methodPackage(d); return !isMethod || o == m }, nil)
		}
	}
}

// methodPackage reports whether pkg is (in) a spawn method package
// (spawn/ssh, spawn/docker, ...) and which. spawn/compress, which the
// method packages import for its codecs, is not one.
func methodPackage(pkg string) (string, bool) {
	rest, ok := strings.CutPrefix(pkg, "spawn/")
	if !ok {
		return "", false
	}
	m := strings.Split(rest, "/")[0]
	return m, m != "runner" && m != "internal" && m != "compress"
}

// TestRouteIsPure: actors/internal/route has no goroutines, no locks and
// no clock (time comes in as values).
func TestRouteIsPure(t *testing.T) { checkPure(t, "actors/internal/route") }

// TestSupervisionCoreIsPure: the supervision core, likewise (STYLE.md,
// "Pure cores, IO at the edge").
func TestSupervisionCoreIsPure(t *testing.T) { checkPure(t, "supervision/internal/core") }

// checkPure fails on a goroutine, a lock or a clock in pkg's sources.
func checkPure(t *testing.T, pkg string) {
	p := listPackages(t)
	dir := p.dirs[pkg]
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s sources in %q: %v", pkg, dir, err)
	}
	clock := map[string]bool{"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
		"AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path := strings.Trim(imp.Path.Value, `"`); path == "sync" || path == "sync/atomic" {
				t.Errorf("%s imports %s", filepath.Base(file), path)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GoStmt:
				t.Errorf("%s: a goroutine", fset.Position(n.Pos()))
			case *ast.SelectorExpr:
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "time" && clock[n.Sel.Name] {
					t.Errorf("%s: time.%s", fset.Position(n.Pos()), n.Sel.Name)
				}
			}
			return true
		})
	}
}
