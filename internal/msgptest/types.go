// Package msgptest holds message types with msgp-generated codecs
// (github.com/tinylib/msgp), for tests and benchmarks of wire's
// reflection-free path. Regenerate with `go generate ./internal/msgptest`.
package msgptest

//go:generate go run github.com/tinylib/msgp@v1.6.5 -file types.go -o types_gen.go -tests=false

// Small is a small struct message with generated MarshalMsg/UnmarshalMsg.
type Small struct {
	ID    int64
	Name  string
	Value float64
	Tags  []string
	Blob  []byte
}

// Count is the generated twin of spawn's reflective test.Count message.
type Count struct {
	N int
}

// Bench is the generated twin of wire's reflective benchmark message.
type Bench struct {
	ID    int64
	Name  string
	Value float64
}
