package ssh

// EncodeForTest compresses b with codec (for the benchmarks of the
// spawn_test package).
func EncodeForTest(b *Binary, codec string) error {
	_, err := b.Encoded(codec)
	return err
}
