// Command sluice-extractor runs one provider (--provider) of the providers registered in
// registry.go. Each provider is deployed as its own Deployment of this binary; a team with
// its own module builds its own binary the same way (see package extractor and examples/).
package main

import "github.com/sluice-dev/sluice/services/extractor/extractor"

func main() { extractor.Main(providers...) }
