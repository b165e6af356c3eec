// Package layout holds the test that checks the import rules of
// DESIGN.md ("Import rules") with go list -deps; it has no code of its own.
package layout
