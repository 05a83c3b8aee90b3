package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// localFlag is --local: "auto" (the default), "true" or "false". It takes
// no value as a bare --local, like a bool flag.
type localFlag string

func (l *localFlag) String() string {
	if l == nil || *l == "" {
		return "auto"
	}
	return string(*l)
}

func (l *localFlag) Set(v string) error {
	if v == "auto" {
		*l = "auto"
		return nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("give auto, true or false")
	}
	*l = localFlag(strconv.FormatBool(b))
	return nil
}

func (l *localFlag) IsBoolFlag() bool { return true }

// decideLocal says whether the host "local" is offered, and why: by
// default only when the server listens on loopback, since on any other
// address whoever reaches it with a token runs commands on this machine.
// warn is set when --local=true forces it on a non-loopback address.
func decideLocal(mode, listen string) (on, warn bool, why string) {
	loop := loopbackListen(listen)
	switch mode {
	case "true":
		if !loop {
			return true, true, fmt.Sprintf("host \"local\" offered (--local=true) although the server listens on %s, not loopback: anyone who reaches it with an operator token runs commands on this machine", listen)
		}
		return true, false, "host \"local\" offered (--local)"
	case "false":
		return false, false, "host \"local\" not offered (--local=false)"
	}
	if loop {
		return true, false, fmt.Sprintf("host \"local\" offered: the server listens on loopback (%s)", listen)
	}
	return false, false, fmt.Sprintf("host \"local\" not offered: the server listens on %s, not loopback (give --local=true to offer it anyway)", listen)
}

// loopbackListen reports whether a listen address only takes connections
// from this machine: 127.0.0.0/8, ::1 or localhost. An empty host is every
// interface.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		host = listen
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	host, _, _ = strings.Cut(host, "%") // zone of an IPv6 address
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
