# The two commands of the README. Both install what they need first.

.PHONY: run test

## Build and serve Latchkey at http://127.0.0.1:3000 (SQLite, mail to data/outbox).
run:
	scripts/run.sh

## Run every test: unit, integration and browser (Playwright).
test:
	scripts/test.sh
