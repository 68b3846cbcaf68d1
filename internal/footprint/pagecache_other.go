//go:build !linux

package footprint

// DropPageCache does nothing outside Linux, where footprint measures
// nothing (it reads /proc).
func DropPageCache(string) error { return nil }
