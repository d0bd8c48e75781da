package config

import "github.com/alecthomas/kong"

// Default is the configuration with every setting at its default, whatever the
// environment says: the embedded mode. Tests start from it.
func Default() Config {
	var c Config
	parser, err := kong.New(&c)
	if err == nil {
		// Defaults only: forget the variables, or the environment would leak in.
		for _, flag := range parser.Model.Flags {
			flag.Tag.Envs = nil
		}
		var ctx *kong.Context
		if ctx, err = kong.Trace(parser, nil); err == nil {
			err = ctx.ApplyDefaults()
		}
	}
	if err != nil {
		// The defaults are literals in this package's struct tags: a failure here
		// is a typo caught by the first test run, not a runtime condition.
		panic("config defaults: " + err.Error())
	}
	return c
}
