/* cli_listen.c - kabar listen (being written). */
