package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Result is what one system gave in a run.
type Result struct {
	Name   string // JSON key and table column: "spindle", "floor (socketpair)"
	About  string // what the system is, for the legend
	InJSON bool   // whether the system has an object in the JSON file
	// Skipped is why the system did not run (a peer that is not installed,
	// no sshd); empty when it ran.
	Skipped string
	// Failed is the error of a system that was available but broke.
	Failed  string
	Figures Figures
	Elapsed time.Duration
}

func (r *Result) ran() bool { return r.Skipped == "" && r.Failed == "" }

// Report is a whole run.
type Report struct {
	Meta    Meta
	Results []*Result
}

// Meta describes the run and the machine it ran on.
type Meta struct {
	Date     time.Time
	Mode     string // "quick" or "full"
	Rounds   int
	Command  string
	Machine  string
	Software string
	Load     string // load average when the run started
	Children string // what binary Spindle contexts and floor processes ran
	Elapsed  time.Duration
}

func (rep *Report) result(name string) *Result {
	for _, r := range rep.Results {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// ratioPairs are the comparisons of the ratio table: the first system
// against the second. A pair is shown when both ran.
var ratioPairs = [][2]string{
	{"spindle", "floor"},
	{"spindle_gen", "floor"},
	{"spindle_gen", "spindle"},
	{"spindle (socketpair)", "floor (socketpair)"},
	{"spindle", "mitogen"},
	{"spindle", "protoactor_grpc"},
	{"spindle", "protoactor_inproc"},
	{"protoactor_inproc", "floor"},
	{"mitogen", "floor"},
	{"protoactor_grpc", "floor"},
	{"spindle_ssh", "mitogen_ssh"},
}

// compare says how a's figure stands against b's: factor ≥ 1 is how many
// times better or worse a is, and better reports the direction. It is false
// when either figure is missing or not positive.
func compare(a, b *Stat, higherBetter bool) (factor float64, better, ok bool) {
	if a == nil || b == nil || a.Median <= 0 || b.Median <= 0 {
		return 0, false, false
	}
	r := a.Median / b.Median // >1: a's figure is larger
	if r >= 1 {
		return r, higherBetter, true
	}
	return 1 / r, !higherBetter, true
}

// ratioText renders a comparison as "3.10× slower" or "2.00× faster".
func ratioText(a, b *Stat, higherBetter bool) string {
	f, better, ok := compare(a, b, higherBetter)
	if !ok {
		return "—"
	}
	word := "slower"
	if better {
		word = "faster"
	}
	return fmt.Sprintf("%s× %s", sig3(f), word)
}

// sig3 formats a non-negative number with three significant digits and no
// exponent: 1234 → "1234", 75.23 → "75.2", 9.2 → "9.20", 0.0523 → "0.0523".
func sig3(x float64) string {
	switch ax := math.Abs(x); {
	case ax >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case ax >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	case ax >= 1 || ax == 0:
		return strconv.FormatFloat(x, 'f', 2, 64)
	default:
		return strconv.FormatFloat(x, 'g', 3, 64)
	}
}

// scaleFor picks a suffix for large figures (throughputs) by the median.
func scaleFor(median float64) (div float64, suffix string) {
	switch {
	case median >= 1e6:
		return 1e6, " M"
	case median >= 1e4:
		return 1e3, " k"
	}
	return 1, ""
}

// cellText renders a figure as "median (lo–hi)".
func cellText(s *Stat) string {
	if s == nil {
		return "—"
	}
	div, suffix := scaleFor(s.Median)
	if s.Rounds < 2 {
		return sig3(s.Median/div) + suffix
	}
	return fmt.Sprintf("%s%s (%s–%s)", sig3(s.Median/div), suffix, sig3(s.Lo/div), sig3(s.Hi/div))
}

// Markdown writes the report: the figures table, the ratio table, what was
// skipped or failed, and the run's description.
func (rep *Report) Markdown(w io.Writer) error {
	var b bytes.Buffer
	var ran []*Result
	for _, r := range rep.Results {
		if r.ran() {
			ran = append(ran, r)
		}
	}
	m := rep.Meta
	fmt.Fprintf(&b, "Run %s (%s mode, median of %d rounds, range of rounds in parentheses), %s.\n\n",
		m.Date.UTC().Format("2006-01-02 15:04 MST"), m.Mode, m.Rounds, "run time "+m.Elapsed.Round(time.Second).String())
	b.WriteString("| workload | unit |")
	for _, r := range ran {
		fmt.Fprintf(&b, " %s |", r.Name)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(ran)) + "\n")
	for mt := Metric(0); mt < numMetrics; mt++ {
		info := mt.info()
		fmt.Fprintf(&b, "| %s | %s |", info.Label, info.Unit)
		for _, r := range ran {
			fmt.Fprintf(&b, " %s |", cellText(r.Figures[mt]))
		}
		b.WriteString("\n")
	}
	rep.writeRatios(&b)
	for _, r := range ran {
		if r.About != "" {
			fmt.Fprintf(&b, "- %s: %s\n", r.Name, r.About)
		}
	}
	for _, r := range rep.Results {
		switch {
		case r.Skipped != "":
			fmt.Fprintf(&b, "- %s: skipped: %s\n", r.Name, r.Skipped)
		case r.Failed != "":
			fmt.Fprintf(&b, "- %s: FAILED: %s\n", r.Name, r.Failed)
		}
	}
	fmt.Fprintf(&b, "\nMachine: %s. %s. Load average at start: %s.\n", m.Machine, m.Software, m.Load)
	if m.Children != "" {
		fmt.Fprintf(&b, "Spindle contexts and floor processes ran %s.\n", m.Children)
	}
	fmt.Fprintf(&b, "\nReproduce: `%s`\n", m.Command)
	_, err := w.Write(b.Bytes())
	return err
}

func (rep *Report) writeRatios(b *bytes.Buffer) {
	type pair struct{ a, b *Result }
	var pairs []pair
	for _, p := range ratioPairs {
		ra, rb := rep.result(p[0]), rep.result(p[1])
		if ra != nil && rb != nil && ra.ran() && rb.ran() {
			pairs = append(pairs, pair{ra, rb})
		}
	}
	if len(pairs) == 0 {
		return
	}
	b.WriteString("\nRatios of medians (\"3.10× slower\": the first system's figure is 3.1 times worse):\n\n| workload |")
	for _, p := range pairs {
		fmt.Fprintf(b, " %s vs %s |", p.a.Name, p.b.Name)
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(pairs)) + "\n")
	for mt := Metric(0); mt < numMetrics; mt++ {
		info := mt.info()
		fmt.Fprintf(b, "| %s |", info.Label)
		for _, p := range pairs {
			fmt.Fprintf(b, " %s |", ratioText(p.a.Figures[mt], p.b.Figures[mt], info.HigherBetter))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// JSON writes one object per system, keyed by system name, each with
// exactly the metric keys; a figure the system cannot give (or a system
// that was skipped) is null. Values are medians, rounded to four
// significant digits.
func (rep *Report) JSON(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString("{")
	first := true
	for _, name := range jsonOrder {
		r := rep.result(name)
		if r == nil || !r.InJSON {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		name, _ := json.Marshal(r.Name)
		fmt.Fprintf(&b, "\n  %s: {", name)
		for mt := Metric(0); mt < numMetrics; mt++ {
			if mt > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q: ", mt.info().Key)
			s := r.Figures[mt]
			if s == nil || !r.ran() {
				b.WriteString("null")
				continue
			}
			b.WriteString(strconv.FormatFloat(roundSig(s.Median, 4), 'f', -1, 64))
		}
		b.WriteString("}")
	}
	b.WriteString("\n}\n")
	_, err := w.Write(b.Bytes())
	return err
}

// roundSig rounds x to n significant digits.
func roundSig(x float64, n int) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	p := math.Pow(10, float64(n)-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}
