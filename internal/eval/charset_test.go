package eval

// The daemon registers go-message's charset tables once, in main; the tests
// do the same here, so that notices in ISO-2022-JP, GB2312, Latin-1 and the
// like read as they do in production.
import _ "github.com/emersion/go-message/charset"
