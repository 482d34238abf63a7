// ESLint's flat configuration for the project's JavaScript: the console
// (console/src, browser modules bundled by scripts/build-console) and the
// browser tests' driver (tests/browser, a Node script). `scripts/test` runs
// `eslint` on both; formatting is prettier's (`.prettierrc.json`), so no
// rule here is about layout.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    ignores: ["console/dist/**", "node_modules/**", "target/**", "crates/**", "bench/**", "fuzz/**"],
  },
  js.configs.recommended,
  {
    files: ["console/src/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: globals.browser,
    },
  },
  {
    files: ["tests/browser/**/*.mjs", "eslint.config.mjs"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.node, ...globals.browser },
    },
  },
  {
    rules: {
      // `_`-prefixed parameters are kept for their position (a page's
      // `render(main, _route, context)`).
      "no-unused-vars": ["error", { argsIgnorePattern: "^_", caughtErrors: "none" }],
      eqeqeq: ["error", "always"],
      "no-var": "error",
      "prefer-const": "error",
      // The console puts every string on the page as a text node (dom.js).
      "no-restricted-properties": [
        "error",
        { property: "innerHTML", message: "Build nodes with dom.js's h(): text stays text." },
        { property: "outerHTML", message: "Build nodes with dom.js's h(): text stays text." },
      ],
      "no-eval": "error",
      "no-implied-eval": "error",
    },
  },
];
