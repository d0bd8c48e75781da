package settings

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// checkListenAddress is nil when addr is host:port with a host that can be
// looked up and a port in range.
func checkListenAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if port == "" {
		return errors.New("the port is missing")
	}
	// Digits only: a service name such as "http" depends on the machine's
	// tables.
	if strings.Trim(port, "0123456789") != "" {
		return fmt.Errorf("the port %q is not a number from 0 to 65535", port)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("the port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !validHostName(host) {
		return fmt.Errorf("the host %q is neither an IP address nor a host name", host)
	}
	return nil
}

// validHostName reports whether name is a DNS host name: dot-separated labels
// of 1 to 63 letters, digits, '-' and '_' (which some local names use), none
// starting or ending with '-', 253 characters at most.
func validHostName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
