// Package phrase finds which of a fixed set of phrases occur in a text, in
// one pass, ignoring ASCII case: the rule tables of dsn and classify are
// lists of phrases, and a text is scanned once whatever their number.
package phrase

import (
	"math/bits"
	"sort"
	"strings"
)

// A Matcher finds, in one pass over a text, which of a fixed set of phrases
// occur in it, ignoring ASCII case. It is an Aho-Corasick automaton: a trie
// of the phrases with failure links, compiled into a table of transitions
// over byte classes (the bytes the phrases use, and one class for all
// others), so that each byte of text costs one lookup.
//
// Phrases are lower-case. A phrase may start and/or end with `\b`, which
// asks for a word boundary there: the neighbouring byte must not be an ASCII
// letter or digit (or must be the start or end of the text).
//
// A Matcher is immutable once built and safe for concurrent use.
type Matcher struct {
	root  [256]int32 // transitions of the root, for every byte
	class [256]uint8 // byte (ASCII case folded) to byte class
	ncls  int32      // number of classes
	// delta[s*ncls+c] is the state after state s reads class c, stored as
	// the offset of that state's row (so that a step needs no multiply),
	// with the top bit set when phrases end in that state.
	delta []uint32
	// delta16 is delta for automata of fewer than 1<<15 states, which most
	// are: state numbers, with out16 set where phrases end. Half the size,
	// the table stays in cache.
	delta16 []uint16
	nodes   []acNode
	edges   []acEdge // the edges of each node, sorted by byte
	outs    []int32  // phrase ids; nodes[i].out indexes a run ending at -1
	pats    []acPattern
}

type acNode struct {
	fail  int32
	edge0 int32 // first edge in edges
	nedge int32
	out   int32 // index into outs, or -1 when no phrase ends here
}

type acEdge struct {
	b  byte
	to int32
}

type acPattern struct {
	text               string // lower-case, without the \b markers
	wordStart, wordEnd bool
}

// MaxPhrases bounds the phrases of one Matcher so that the set of found
// phrases fits a fixed array on the stack.
const MaxPhrases = 64 * 64

// Set is the set of phrase ids found in one text.
type Set [MaxPhrases / 64]uint64

// Add puts id i in the set.
func (s *Set) Add(i int32) { s[i>>6] |= 1 << (uint(i) & 63) }

// Has reports whether id i is in the set.
func (s *Set) Has(i int32) bool { return s[i>>6]&(1<<(uint(i)&63)) != 0 }

// Any reports whether the set holds an id >= from and < limit.
func (s *Set) Any(from, limit int32) bool { return s.NextBelow(from, limit) >= 0 }

// NextBelow returns the smallest id >= from and < limit in the set, or -1.
func (s *Set) NextBelow(from, limit int32) int32 {
	for from < limit {
		w := s[from>>6] >> (uint(from) & 63)
		if w == 0 {
			from = (from | 63) + 1
			continue
		}
		i := from + int32(bits.TrailingZeros64(w))
		if i >= limit {
			return -1
		}
		return i
	}
	return -1
}

// foldASCII maps A-Z to a-z and leaves every other byte alone.
var foldASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if 'A' <= i && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

func isWordByte(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

// parsePhrase reads the \b markers of a phrase.
func parsePhrase(p string) acPattern {
	var ap acPattern
	if strings.HasPrefix(p, `\b`) {
		ap.wordStart = true
		p = p[2:]
	}
	if strings.HasSuffix(p, `\b`) {
		ap.wordEnd = true
		p = p[:len(p)-2]
	}
	ap.text = p
	return ap
}

// New builds a Matcher for phrases; phrase i has id i. The phrases must be
// non-empty and lower-case, and there must be at most MaxPhrases: New
// panics otherwise, since phrase
// tables are written in the source (user rules are checked against
// MaxPhrases by their loader).
func New(phrases []string) *Matcher {
	if len(phrases) > MaxPhrases {
		panic("phrase: too many phrases")
	}
	m := &Matcher{pats: make([]acPattern, len(phrases))}
	type tmpNode struct {
		next map[byte]int32
		out  []int32
	}
	tmp := []tmpNode{{next: map[byte]int32{}}}
	for id, p := range phrases {
		ap := parsePhrase(p)
		m.pats[id] = ap
		s := int32(0)
		for i := 0; i < len(ap.text); i++ {
			b := ap.text[i]
			nx, ok := tmp[s].next[b]
			if !ok {
				nx = int32(len(tmp))
				tmp = append(tmp, tmpNode{next: map[byte]int32{}})
				tmp[s].next[b] = nx
			}
			s = nx
		}
		tmp[s].out = append(tmp[s].out, int32(id))
	}

	m.nodes = make([]acNode, len(tmp))
	for i := range tmp {
		keys := make([]int, 0, len(tmp[i].next))
		for b := range tmp[i].next {
			keys = append(keys, int(b))
		}
		sort.Ints(keys)
		m.nodes[i].edge0 = int32(len(m.edges))
		m.nodes[i].nedge = int32(len(keys))
		for _, b := range keys {
			m.edges = append(m.edges, acEdge{b: byte(b), to: tmp[i].next[byte(b)]})
		}
	}

	// Failure links, breadth first; the outputs of a node include those of
	// its failure chain.
	outSets := make([][]int32, len(tmp))
	queue := make([]int32, 0, len(tmp))
	for b := 0; b < 256; b++ {
		if to, ok := tmp[0].next[byte(b)]; ok {
			m.root[b] = to
			m.nodes[to].fail = 0
			queue = append(queue, to)
		}
	}
	outSets[0] = tmp[0].out
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		outSets[s] = append(append([]int32(nil), tmp[s].out...), outSets[m.nodes[s].fail]...)
		n := m.nodes[s]
		for _, e := range m.edges[n.edge0 : n.edge0+n.nedge] {
			m.nodes[e.to].fail = m.step(n.fail, e.b)
			queue = append(queue, e.to)
		}
	}
	for i := range m.nodes {
		if len(outSets[i]) == 0 {
			m.nodes[i].out = -1
			continue
		}
		m.nodes[i].out = int32(len(m.outs))
		m.outs = append(m.outs, outSets[i]...)
		m.outs = append(m.outs, -1)
	}
	m.compile()
	return m
}

// compile fills the transition table from the trie and its failure links.
// Nodes are numbered breadth first, so a node's failure target, which is
// shallower, is filled before it.
func (m *Matcher) compile() {
	used := [256]bool{}
	for _, p := range m.pats {
		for i := 0; i < len(p.text); i++ {
			used[p.text[i]] = true
		}
	}
	m.ncls = 1 // class 0: bytes no phrase uses; phrases are lower-case, so
	// at most 256-26 classes follow and a class fits a byte.
	var byClass [256]uint8
	for b := 0; b < 256; b++ {
		if used[b] {
			byClass[b] = uint8(m.ncls)
			m.ncls++
		}
	}
	for b := 0; b < 256; b++ {
		m.class[b] = byClass[foldASCII[b]]
	}
	order := m.bfsOrder()
	if len(m.nodes)*int(m.ncls) >= 1<<31 {
		panic("phrase: automaton too large")
	}
	ncls := uint32(m.ncls)
	enc := func(s int32) uint32 {
		v := uint32(s) * ncls
		if m.nodes[s].out >= 0 {
			v |= outBit
		}
		return v
	}
	m.delta = make([]uint32, len(m.nodes)*int(m.ncls))
	var classOf [256]int32
	for b := 0; b < 256; b++ {
		classOf[b] = int32(byClass[b])
	}
	for _, s := range order {
		row := m.delta[int(s)*int(m.ncls) : int(s+1)*int(m.ncls)]
		// A state goes where its failure state goes, except along its own
		// edges; breadth first, the failure state's row is done.
		if s == 0 {
			for c := range row {
				row[c] = enc(0)
			}
		} else {
			copy(row, m.delta[int(m.nodes[s].fail)*int(m.ncls):])
		}
		n := m.nodes[s]
		for _, e := range m.edges[n.edge0 : n.edge0+n.nedge] {
			row[classOf[e.b]] = enc(e.to)
		}
	}
	if len(m.nodes) < out16 {
		m.delta16 = make([]uint16, len(m.delta))
		for i, v := range m.delta {
			st := (v &^ outBit) / ncls
			if v&outBit != 0 {
				st |= out16
			}
			m.delta16[i] = uint16(st)
		}
		m.delta = nil
	}
}

// outBit marks, in delta, a state where phrases end; out16 in delta16.
const (
	outBit = 1 << 31
	out16  = 1 << 15
)

// run walks text through the automaton and calls f at every position i
// where phrases end, with the index of their run in outs; f returns false
// to stop.
func (m *Matcher) run(text string, f func(o int32, i int) bool) {
	class := &m.class
	if d := m.delta16; d != nil {
		ncls := int(m.ncls)
		s := 0
		for i := 0; i < len(text); i++ {
			v := d[s*ncls+int(class[text[i]])]
			s = int(v &^ out16)
			if v&out16 != 0 && !f(m.nodes[s].out, i) {
				return
			}
		}
		return
	}
	var row uint32
	for i := 0; i < len(text); i++ {
		v := m.delta[row+uint32(class[text[i]])]
		row = v &^ outBit
		if v&outBit != 0 && !f(m.nodes[row/uint32(m.ncls)].out, i) {
			return
		}
	}
}

// bfsOrder lists the nodes breadth first from the root.
func (m *Matcher) bfsOrder() []int32 {
	order := make([]int32, 1, len(m.nodes))
	for i := 0; i < len(order); i++ {
		n := m.nodes[order[i]]
		for _, e := range m.edges[n.edge0 : n.edge0+n.nedge] {
			order = append(order, e.to)
		}
	}
	return order
}

// step follows the transition from state s on byte b.
func (m *Matcher) step(s int32, b byte) int32 {
	for s != 0 {
		n := &m.nodes[s]
		for _, e := range m.edges[n.edge0 : n.edge0+n.nedge] {
			if e.b == b {
				return e.to
			}
			if e.b > b {
				break
			}
		}
		s = n.fail
	}
	return m.root[b]
}

// Scan adds to found the id of every phrase that occurs in text, folding
// ASCII upper case to lower case on the fly.
func (m *Matcher) Scan(text string, found *Set) {
	m.run(text, func(o int32, i int) bool {
		for ; m.outs[o] >= 0; o++ {
			if id := m.outs[o]; m.pats[id].holds(text, i) {
				found.Add(id)
			}
		}
		return true
	})
}

// Mask is Scan for a Matcher of at most 64 phrases: bit i of the result is
// set when phrase i occurs in text.
func (m *Matcher) Mask(text string) uint64 {
	var mask uint64
	m.run(text, func(o int32, i int) bool {
		for ; m.outs[o] >= 0; o++ {
			if id := m.outs[o]; m.pats[id].holds(text, i) {
				mask |= 1 << uint(id&63)
			}
		}
		return true
	})
	return mask
}

// holds checks the word boundaries of a phrase that ends at text[i].
func (p *acPattern) holds(text string, i int) bool {
	if p.wordStart {
		start := i + 1 - len(p.text)
		if start > 0 && isWordByte(text[start-1]) {
			return false
		}
	}
	return !p.wordEnd || i+1 >= len(text) || !isWordByte(text[i+1])
}
