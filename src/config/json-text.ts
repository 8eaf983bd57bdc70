/**
 * The config file's text to a value, with what JSON.parse does not say: the
 * line and column of a syntax error (with the line itself), and keys written
 * twice in one object, which JSON.parse resolves silently by keeping the last
 * (`"weight": 1, "weight": 5` is weight 5). A UTF-8 byte order mark, which
 * some Windows editors write, is accepted. jsonc-parser (VS Code's) reports
 * the positions; the value itself comes from JSON.parse, which keeps a key
 * named `__proto__` as data.
 */
import { type JSONPath, printParseErrorCode, visit } from "jsonc-parser";

export interface JsonText {
  /** The parsed value; undefined when the text is not JSON. */
  readonly value: unknown;
  /** Syntax errors and duplicate keys, each one line (a syntax error adds the offending line and a caret). */
  readonly problems: readonly string[];
}

/** `targetGroups.app.targets[0].weight` from a JSON path. */
export function renderPath(path: JSONPath): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out ? `.${key}` : key;
  return out || "(root)";
}

/** jsonc-parser's error codes, as a person would say them. */
const SAYS: Record<string, string> = {
  InvalidSymbol: "unexpected character",
  InvalidNumberFormat: "invalid number",
  PropertyNameExpected: "expected a key in double quotes",
  ValueExpected: "expected a value",
  ColonExpected: "expected ':'",
  CommaExpected: "expected ',' or the end of the object or list",
  CloseBraceExpected: "expected '}'",
  CloseBracketExpected: "expected ']'",
  EndOfFileExpected: "expected the end of the file",
  InvalidCommentToken: "comments are not allowed in JSON",
  UnexpectedEndOfComment: "comments are not allowed in JSON",
  UnexpectedEndOfString: "unterminated string",
  UnexpectedEndOfNumber: "unterminated number",
  InvalidUnicode: "invalid \\u escape",
  InvalidEscapeCharacter: "invalid escape character",
  InvalidCharacter: "invalid character in a string (control characters must be escaped)",
};

export function parseJsonText(input: string): JsonText {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const lines = text.split("\n");
  let syntax: string | undefined;
  const duplicates: string[] = [];
  /** Per open object: key -> the line it was first written on. */
  const objects: (Map<string, number> | undefined)[] = [];
  visit(
    text,
    {
      onObjectBegin: () => void objects.push(new Map()),
      onObjectEnd: () => void objects.pop(),
      onArrayBegin: () => void objects.push(undefined),
      onArrayEnd: () => void objects.pop(),
      onObjectProperty: (key, _offset, _length, line, _column, pathOf) => {
        const seen = objects[objects.length - 1];
        if (!seen) return;
        const first = seen.get(key);
        if (first === undefined) seen.set(key, line);
        else {duplicates.push(
            `${renderPath([...pathOf(), key])}: duplicate key (${
              first === line ? `twice on line ${line + 1}` : `lines ${first + 1} and ${line + 1}`
            }); JSON keeps only the last, so say it once`,
          );}
      },
      onError: (code, _offset, _length, line, column) => {
        if (syntax !== undefined) return; // later errors follow from the first
        const source = (lines[line] ?? "").replace(/\r$/, "").replace(/\t/g, " ");
        syntax = `line ${line + 1}, column ${column + 1}: ${SAYS[printParseErrorCode(code)] ?? printParseErrorCode(code)}\n    ${source}\n    ${
          " ".repeat(column)
        }^`;
      },
    },
    { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false },
  );
  if (syntax !== undefined) return { value: undefined, problems: [`not valid JSON: ${syntax}`] };
  return { value: JSON.parse(text), problems: duplicates };
}
