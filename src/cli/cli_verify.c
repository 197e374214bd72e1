/* cli_verify.c - kabar verify (being written). */
