package catalog

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[*duration]()

// decodeStruct decodes mapping n into the struct out field by field, by yaml
// tag. An unknown key is an error; a null value leaves the field as it is.
func (d *decoder) decodeStruct(n *yaml.Node, out reflect.Value, where string) error {
	n, err := d.resolve(n)
	if err != nil || isNull(n) {
		return err
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: %s: want a mapping", n.Line, where)
	}
	pairs, err := d.pairs(n, where)
	if err != nil {
		return err
	}
	t := out.Type()
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		fields[t.Field(i).Tag.Get("yaml")] = i
	}
	for _, p := range pairs {
		i, ok := fields[p.key]
		if !ok {
			return fmt.Errorf("line %d: %s: unknown key %q", p.line, where, clip(p.key))
		}
		if err := d.decodeField(p.value, out.Field(i), where+": "+p.key); err != nil {
			return err
		}
	}
	return nil
}

// decodeField decodes n into one field of an entry: a pointer to a scalar, a
// duration, a string list or a nested struct, or a map of strings. Messages
// say what was wanted and never repeat the value.
func (d *decoder) decodeField(n *yaml.Node, f reflect.Value, where string) error {
	if isNull(n) {
		return nil
	}
	if f.Kind() == reflect.Map {
		m, err := d.stringMap(n, where)
		if err != nil {
			return err
		}
		f.Set(reflect.ValueOf(m))
		return nil
	}
	elem := f.Type().Elem()
	v := reflect.New(elem)
	switch {
	case f.Type() == durationType:
		if n.Kind != yaml.ScalarNode || n.Decode(v.Interface()) != nil {
			return fmt.Errorf("line %d: %s: %w", n.Line, where, errDuration)
		}
	case elem.Kind() == reflect.Struct:
		if err := d.decodeStruct(n, v.Elem(), where); err != nil {
			return err
		}
	case elem.Kind() == reflect.Slice:
		list, err := d.stringList(n, where)
		if err != nil {
			return err
		}
		v.Elem().Set(reflect.ValueOf(list))
	case elem.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: want a string", n.Line, where)
		}
		v.Elem().SetString(n.Value)
	default: // bool, int, float64
		if n.Kind != yaml.ScalarNode || n.Decode(v.Interface()) != nil {
			return fmt.Errorf("line %d: %s: want %s", n.Line, where, kindName(elem.Kind()))
		}
	}
	f.Set(v)
	return nil
}

// stringList decodes a sequence of scalars.
func (d *decoder) stringList(n *yaml.Node, where string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: %s: want a list of strings", n.Line, where)
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		c, err := d.resolve(c)
		if err != nil {
			return nil, err
		}
		if c.Kind != yaml.ScalarNode || isNull(c) {
			return nil, fmt.Errorf("line %d: %s: want a list of strings", c.Line, where)
		}
		out = append(out, c.Value)
	}
	return out, nil
}

// stringMap decodes a mapping of scalars; a null value becomes "", which
// removes the key when merged over the catalog's map.
func (d *decoder) stringMap(n *yaml.Node, where string) (map[string]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: %s: want a mapping of strings", n.Line, where)
	}
	pairs, err := d.pairs(n, where)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		switch {
		case isNull(p.value):
			out[p.key] = ""
		case p.value.Kind == yaml.ScalarNode:
			out[p.key] = p.value.Value
		default:
			return nil, fmt.Errorf("line %d: %s: %q: want a string", p.line, where, clip(p.key))
		}
	}
	return out, nil
}

func kindName(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	}
	return strings.ToLower(k.String())
}
