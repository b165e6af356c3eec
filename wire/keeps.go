package wire

import (
	"reflect"
	"unsafe"
)

// keepsWalkBudget bounds the values keeps looks at; a value with more is
// taken to keep its payload (the answer is then only a missed reuse).
const keepsWalkBudget = 4096

// keeps reports whether v may refer to the bytes of buf (anywhere in its
// capacity): whether a slice, string, pointer or map of v, followed
// through pointers, interfaces, structs, arrays, slices and maps, points
// into buf. It answers true when it cannot tell: a non-nil unsafe.Pointer,
// channel or function, or more than keepsWalkBudget values to look at. So
// false is a proof that nothing reachable from v aliases buf.
func keeps(v any, buf []byte) bool {
	if cap(buf) == 0 || v == nil {
		return false
	}
	w := keepsWalk{lo: uintptr(unsafe.Pointer(unsafe.SliceData(buf[:1]))), budget: keepsWalkBudget}
	w.hi = w.lo + uintptr(cap(buf))
	return w.value(reflect.ValueOf(v))
}

type keepsWalk struct {
	lo, hi uintptr // buf's memory, [lo, hi)
	budget int
}

// in reports whether the n bytes at p overlap buf.
func (w *keepsWalk) in(p unsafe.Pointer, n uintptr) bool {
	a := uintptr(p)
	return p != nil && a < w.hi && a+max(n, 1) > w.lo
}

func (w *keepsWalk) value(v reflect.Value) bool {
	if w.budget--; w.budget < 0 {
		return true
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		return w.in(unsafe.Pointer(unsafe.StringData(s)), uintptr(len(s)))
	case reflect.Slice:
		if v.IsNil() {
			return false
		}
		if w.in(v.UnsafePointer(), uintptr(v.Cap())*v.Type().Elem().Size()) {
			return true
		}
		fallthrough // and what its elements refer to, as an array's
	case reflect.Array:
		if !hasPointers(v.Type().Elem()) {
			return false
		}
		for i := range v.Len() {
			if w.value(v.Index(i)) {
				return true
			}
		}
		return false
	case reflect.Struct:
		for i := range v.NumField() {
			if w.value(v.Field(i)) {
				return true
			}
		}
		return false
	case reflect.Pointer:
		if v.IsNil() {
			return false
		}
		return w.in(v.UnsafePointer(), v.Type().Elem().Size()) || w.value(v.Elem())
	case reflect.Interface:
		return !v.IsNil() && w.value(v.Elem())
	case reflect.Map:
		if v.IsNil() {
			return false
		}
		it := v.MapRange()
		for it.Next() {
			if w.value(it.Key()) || w.value(it.Value()) {
				return true
			}
		}
		return false
	case reflect.UnsafePointer, reflect.Chan, reflect.Func:
		return !v.IsNil()
	}
	return false // booleans, numbers, uintptr: no memory of their own
}

// hasPointers reports whether a value of type t can refer to memory.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true
}
