// Command testsummary reads `go test -json` output on stdin, prints the
// output of failed tests, one line per package, and a closing line
// "N passed, N failed, N skipped". It exits 1 if anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	var passed, failed, skipped int
	output := map[string][]string{} // package/test -> lines
	var pkgLines []string
	var failedTests []string
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Println(sc.Text()) // build errors and the like
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			output[key] = append(output[key], e.Output)
		case "pass", "fail", "skip":
			if e.Test == "" {
				status := map[string]string{"pass": "ok  ", "fail": "FAIL", "skip": "skip"}[e.Action]
				pkgLines = append(pkgLines, fmt.Sprintf("%s %s %.1fs", status, e.Package, e.Elapsed))
				if e.Action == "fail" {
					failedTests = append(failedTests, key)
				}
				continue
			}
			switch e.Action {
			case "pass":
				passed++
			case "fail":
				failed++
				failedTests = append(failedTests, key)
			case "skip":
				skipped++
				if os.Getenv("SPINDLE_REQUIRE_INTEGRATION") == "1" {
					fmt.Printf("skipped in CI: %s\n%s", key, strings.Join(output[key], ""))
				}
			}
		}
	}
	sort.Strings(failedTests)
	for _, k := range failedTests {
		fmt.Printf("--- output of %s\n%s", k, strings.Join(output[k], ""))
	}
	for _, l := range pkgLines {
		fmt.Println(l)
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || len(failedTests) > 0 {
		os.Exit(1)
	}
}
