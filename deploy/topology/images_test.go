package topology_test

import (
	"regexp"
	"strings"
)

// versionTag is a tag naming a release: 2.15.2, 26.7, 2.15.2-alpine,
// RELEASE.2025-09-07T16-13-09Z.
var versionTag = regexp.MustCompile(`^(v?[0-9]+(\.[0-9]+)+([-.][0-9A-Za-z.-]+)?|RELEASE\.[0-9TZ-]+)$`)

// ourImage reports whether image is one of the images deploy/Dockerfile
// builds (serviceping/<service>, under any registry).
func ourImage(image string) bool {
	name, _ := splitImage(image)
	return strings.HasPrefix(name, "serviceping/") || strings.Contains(name, "/serviceping/")
}

// splitImage splits an image reference into its name and its tag or
// digest ("" when it has neither).
func splitImage(image string) (name, ref string) {
	if n, d, ok := strings.Cut(image, "@"); ok {
		return n, "@" + d
	}
	slash := strings.LastIndex(image, "/")
	if colon := strings.LastIndex(image, ":"); colon > slash {
		return image[:colon], image[colon+1:]
	}
	return image, ""
}

// unpinned says why image is not pinned ("" when it is): a digest pins
// it; otherwise third-party images need a release tag, and ours (built
// from this repository, the tag naming the build) any tag but latest.
func unpinned(image string) string {
	_, ref := splitImage(image)
	switch {
	case strings.HasPrefix(ref, "@sha256:"):
		return ""
	case ref == "":
		return "no tag (means latest)"
	case ref == "latest":
		return "tag latest"
	case ourImage(image):
		return ""
	case !versionTag.MatchString(ref):
		return "tag " + ref + " names no release"
	}
	return ""
}
