package config

import "strings"

// needs names the settings among choices that are in force, e.g.
// "STORE=mysql" or "STORE=mysql and TRANSPORT=sql", so that a message blames
// only the choices that need what is missing, never one that needs nothing.
// Each choice is a setting as NAME=value and whether it is in force; the
// verb agrees with how many are.
func needs(choices ...choice) (who string, verb string) {
	var inForce []string
	for _, c := range choices {
		if c.inForce {
			inForce = append(inForce, c.setting)
		}
	}
	if len(inForce) == 1 {
		return inForce[0], "needs"
	}
	return strings.Join(inForce, " and "), "need"
}

// choice is one setting that may need another.
type choice struct {
	setting string
	inForce bool
}
