package classes

import (
	"regexp"
	"slices"
	"strings"

	"github.com/serviceping/serviceping/services/collector/internal/definitions"
	"github.com/serviceping/serviceping/services/collector/internal/instancedb"
)

// Most of GitLab's setting classes are GenericMetric subclasses returning
// one Gitlab::CurrentSettings value, and their names say which in other
// words: NumbersPasswordComplexityRequiredMetric reads
// password_number_required, MaximumSshKeysLifetimeEnabledMetric
// max_ssh_key_lifetime, SpamcheckEnabledMetric spam_check_endpoint_enabled.
// settingNames.byName finds that column among application_settings' columns
// (every column of GitLab's structure.sql, as the instance schema holds
// them) by the words of the name:
//
//   - words are compared stemmed (plural and -ed dropped: numbers ~ number,
//     limited ~ limit), a column word may abbreviate a name word (max ~
//     maximum), and one word may be two of the other side's (lowercase ~
//     lower case, spamcheck ~ spam check);
//   - a column matches when all of its words are in the name or all of the
//     name's words are in the column, with at least two column words matched
//     (words such as "enabled", "setting", "metric" do not count) — but not
//     when the name is the column's words in the column's order with more
//     words put in: DuoCoreFeaturesEnabledMetric names a more specific
//     setting than duo_features_enabled, not that one;
//   - the best match wins (one point more when every word of each side is
//     in the other, one more when both say enabled); two equal best
//     matches are no answer.
//
// A class whose name matches no column stays unknown to the collector.

// fillerWords say nothing about which setting a name means.
var fillerWords = map[string]bool{
	"metric": true, "enabl": true, "setting": true, "is": true, "to": true, "the": true,
	"of": true, "for": true, "with": true, "and": true, "on": true, "in": true,
}

// stem reduces a lower-case word to the form both sides are compared in.
func stem(w string) string {
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && len(w) > 3:
		w = w[:len(w)-1]
	}
	if strings.HasSuffix(w, "ed") && len(w) > 4 {
		w = w[:len(w)-2]
	}
	if strings.HasSuffix(w, "e") && len(w) > 3 {
		w = w[:len(w)-1]
	}
	return w
}

// stems splits a snake_case name into stemmed words.
func stems(snakeName string) []string {
	var out []string
	for _, w := range strings.Split(snakeName, "_") {
		if w != "" {
			out = append(out, stem(w))
		}
	}
	return out
}

// abbreviates is whether column word c abbreviates name word n (max,
// maximum).
func abbreviates(c, n string) bool {
	return len(c) >= 3 && len(n) > len(c)+1 && strings.HasPrefix(n, c)
}

// wordMatch matches a column's words against a name's — the same words
// first, then one word for two adjacent ones of the other side, then
// abbreviations — and says which of each side are matched and whether the
// matched column words stand in the name in their order.
func wordMatch(col, name []string) (colHit, nameHit []bool, inOrder bool) {
	colHit, nameHit = make([]bool, len(col)), make([]bool, len(name))
	at := make([]int, len(col)) // the name word each column word matched
	pair := func(i, j int) { colHit[i], nameHit[j], at[i] = true, true, j }
	for i, c := range col {
		for j, n := range name {
			if !colHit[i] && !nameHit[j] && c == n {
				pair(i, j)
			}
		}
	}
	for i, c := range col {
		for j := 0; j+1 < len(name) && !colHit[i]; j++ {
			if !nameHit[j] && !nameHit[j+1] && name[j]+name[j+1] == c {
				pair(i, j)
				nameHit[j+1] = true
			}
		}
	}
	for j, n := range name {
		for i := 0; i+1 < len(col) && !nameHit[j]; i++ {
			if !colHit[i] && !colHit[i+1] && col[i]+col[i+1] == n {
				pair(i, j)
				colHit[i+1], at[i+1] = true, j
			}
		}
	}
	for i, c := range col {
		for j, n := range name {
			if !colHit[i] && !nameHit[j] && abbreviates(c, n) {
				pair(i, j)
			}
		}
	}
	inOrder, last := true, -1
	for i := range col {
		if colHit[i] {
			inOrder = inOrder && at[i] >= last
			last = at[i]
		}
	}
	return colHit, nameHit, inOrder
}

// allSignificant is whether every non-filler word is hit, and how many
// non-filler words are.
func allSignificant(words []string, hit []bool) (all bool, n int) {
	all = true
	for i, w := range words {
		if fillerWords[w] {
			continue
		}
		if hit[i] {
			n++
		} else {
			all = false
		}
	}
	return all, n
}

// settingMatch is a column a class name was matched to.
type settingMatch struct {
	column  string
	boolean bool // the column is boolean
}

// settingNames are the names a setting class can mean: application_settings'
// columns in the instance schema, the settings GitLab keeps in its jsonb
// columns (jsonb_accessor) and the model's predicates, each name once,
// sorted.
type settingNames []settingMatch

// applicationSettingNames reads the setting names from the instance schema
// and GitLab's model.
func applicationSettingNames() settingNames {
	defs := instancedb.ColumnDefinitions("application_settings")
	byName := map[string]bool{}
	for name, def := range defs {
		byName[name] = strings.HasPrefix(def, "boolean")
	}
	model := instancedb.Model()
	for _, keys := range model.JSONB {
		for name, s := range keys {
			if _, ok := byName[name]; !ok { // a column of that name is read first
				byName[name] = s.Type == "boolean"
			}
		}
	}
	for name := range model.Predicates {
		byName[name] = true
	}
	names := make(settingNames, 0, len(byName))
	for name, boolean := range byName {
		names = append(names, settingMatch{column: name, boolean: boolean})
	}
	slices.SortFunc(names, func(a, b settingMatch) int { return strings.Compare(a.column, b.column) })
	return names
}

// byName finds the setting a setting class's name (snake_case, without
// Metric) means, as described above.
func (names settingNames) byName(name string) (settingMatch, bool) {
	words := stems(name)
	enabled := slices.Contains(words, "enabl")
	best, bestScore, tie := settingMatch{}, 0, false
	for _, col := range names {
		cw := stems(col.column)
		colHit, nameHit, inOrder := wordMatch(cw, words)
		allCol, hits := allSignificant(cw, colHit)
		allName, _ := allSignificant(words, nameHit)
		if !(allCol || allName) || hits < 2 || (!allName && inOrder) {
			continue
		}
		score := hits
		if allCol && allName { // the same words both ways
			score++
		}
		if enabled && slices.Contains(cw, "enabl") {
			score++
		}
		switch {
		case score > bestScore:
			best, bestScore, tie = col, score, false
		case score == bestScore:
			tie = true
		}
	}
	if bestScore == 0 || tie {
		return settingMatch{}, false
	}
	return best, true
}

// settingClassRE is a class name a setting could be named by: no module.
var settingClassRE = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*)Metric$`)

// class resolves a class no exact name or family knows to the application
// setting its name means (definitions.Mapping.ClassResolver). An *Enabled*
// class matched to a setting that is not boolean answers whether it is
// set (present?), as GitLab's classes of such settings do.
func (names settingNames) class(class string) (definitions.MappingEntry, bool) {
	m := settingClassRE.FindStringSubmatch(class)
	if m == nil {
		return definitions.MappingEntry{}, false
	}
	name := snake(m[1])
	col, ok := names.byName(name)
	if !ok {
		return definitions.MappingEntry{}, false
	}
	if !col.boolean && slices.Contains(stems(name), "enabl") {
		return setting(col.column, "present"), true
	}
	return setting(col.column), true
}
