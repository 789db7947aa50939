"""One recogniser process that a node's workers share: its wire format, its server and the workers' client."""
