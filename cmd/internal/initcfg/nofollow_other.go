//go:build !unix

package initcfg

// noFollow: no such flag here; O_EXCL alone keeps a create off a link.
const noFollow = 0
