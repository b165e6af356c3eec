package debug_test

// childMain runs this test binary as a child context where a test started
// it as one; it reports whether it did.
func childMain() bool { return false }
