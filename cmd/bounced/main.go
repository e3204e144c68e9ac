package main
import (_ "github.com/emersion/go-message"; _ "github.com/emersion/go-message/charset"; _ "github.com/pelletier/go-toml/v2")
func main(){}
