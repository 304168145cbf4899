// The HTML report's style sheet: stylelint's recommended rules.
export default {
  extends: ['stylelint-config-recommended'],
};
