package ssh

import "github.com/spindle-go/spindle/spawn"

// EncodeForTest compresses b with codec (for the benchmarks of the
// spawn_test package).
func EncodeForTest(b *spawn.Binary, codec string) error {
	_, err := b.Encoded(codec)
	return err
}
