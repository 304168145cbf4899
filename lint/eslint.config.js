// The HTML report's script: ESLint's recommended rules, in a browser.
// Run from the repository's root (.ci/lane-web-lint.sh), which is then the
// base path the file patterns are relative to.
import js from '@eslint/js';
import globals from 'globals';

export default [
  js.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2022,
      // A classic inline <script>, not a module.
      sourceType: 'script',
      globals: globals.browser,
    },
  },
];
