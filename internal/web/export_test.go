package web

import (
	"maps"
	"slices"
)

// NoticeKeys returns the keys of the notices a redirect may ask a page to
// show (?m=…), for the form targets' check that each says whether it tells
// of something done.
func NoticeKeys() []string { return slices.Sorted(maps.Keys(notices)) }
