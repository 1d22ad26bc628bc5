// Swagger UI on this Worker's own document. No validator badge: it would send the document to validator.swagger.io.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
});
