// Package confloader loads the configuration as tokmesh-go's loader does (koanf v2:
// the file, then TOKMESH_* variables, unmarshalled over the defaults), and then,
// unlike the server, refuses keys the config struct does not have, so a tree that
// writes keys the server ignores fails loudly here.
package confloader

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix is the server's environment prefix.
const EnvPrefix = "TOKMESH_"

// Load fills target (a pointer to a struct already holding the defaults) from the
// file at path (none when empty) and the environment. Errors read like the server's.
func Load(path string, target any) error {
	k := koanf.New(".")
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return fmt.Errorf("load config file: load file %s: %w", path, err)
		}
	}
	// As the server: strip the prefix, lower-case, and turn EVERY "_" into ".",
	// so TOKMESH_CLUSTER_NODE_ID names cluster.node.id, not cluster.node_id.
	toKey := func(s string) string {
		return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s, EnvPrefix)), "_", ".")
	}
	if err := k.Load(env.Provider(EnvPrefix, ".", toKey), nil); err != nil {
		return fmt.Errorf("load env: load env: %w", err)
	}
	// Type errors first, with the server's wording; then the stand-in's own check.
	if err := k.Unmarshal("", target); err != nil {
		return fmt.Errorf("unmarshal config: %w", err)
	}
	known := map[string]bool{}
	collectKeys(reflect.TypeOf(target).Elem(), "", known)
	keys := k.Keys()
	sort.Strings(keys)
	for _, key := range keys {
		if !known[key] {
			return fmt.Errorf("unknown key %q", key)
		}
	}
	return nil
}

// collectKeys records every koanf path of t: the leaves and the sections (a
// section may appear as a key of its own when it is empty or null).
func collectKeys(t reflect.Type, prefix string, known map[string]bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("koanf")
		if tag == "" {
			continue
		}
		key := prefix + tag
		known[key] = true
		if f.Type.Kind() == reflect.Struct {
			collectKeys(f.Type, key+".", known)
		}
	}
}
